import { notBuilt } from '../not-built.ts';

export function run(): Promise<number> {
  return notBuilt('validate', 'issue [3/10] manifests');
}
