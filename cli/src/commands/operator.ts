// `switchboard operator`: the Kubernetes operator (leader-elected). See operator/src/main.ts for its environment.
import { optionsFromEnv, runOperator } from '../../../operator/src/main.ts';

export async function run(): Promise<number> {
  let running: ReturnType<typeof runOperator>;
  try {
    running = runOperator(optionsFromEnv());
  } catch (err) {
    console.error(`switchboard operator: ${(err as Error).message}`);
    return 1;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  console.error(JSON.stringify({ level: 'info', msg: `${signal}: shutting down, releasing the lease` }));
  await running.stop();
  return 0;
}
