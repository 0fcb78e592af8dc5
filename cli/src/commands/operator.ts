import { notBuilt } from '../not-built.ts';

export function run(): Promise<number> {
  return notBuilt('operator', 'issue [6/10] operator');
}
