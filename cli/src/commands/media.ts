import { notBuilt } from '../not-built.ts';

export function run(): Promise<number> {
  return notBuilt('media', 'issue [5/10] media pod');
}
