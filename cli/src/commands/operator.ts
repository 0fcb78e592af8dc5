// `switchboard operator`: the Kubernetes operator (leader-elected), with its admin HTTP server (/healthz, /readyz,
// /metrics on SWITCHBOARD_OPERATOR_ADMIN_LISTEN, default 127.0.0.1:8081). See operator/src/main.ts for its environment.
import { optionsFromEnv, runOperator } from '../../../operator/src/main.ts';

export async function run(): Promise<number> {
  let running: ReturnType<typeof runOperator>;
  try {
    running = runOperator(optionsFromEnv());
  } catch (err) {
    console.error(`switchboard operator: ${(err as Error).message}`);
    return 1;
  }
  try {
    await running.admin;
  } catch (err) {
    // Without its probes' port the pod would be restarted by the kubelet anyway: say why and stop now.
    console.error(`switchboard operator: admin server: ${(err as Error).message}`);
    await running.stop();
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
