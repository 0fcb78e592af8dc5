import { notBuilt } from '../not-built.ts';

export function run(): Promise<number> {
  return notBuilt('sbc', 'issue [2/10] SIP core');
}
