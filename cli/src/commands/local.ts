import { notBuilt } from '../not-built.ts';

export function run(): Promise<number> {
  return notBuilt('local', 'issue [3/10] local mode');
}
