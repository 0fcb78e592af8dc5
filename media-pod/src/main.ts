// Run a media pod from the environment: `node media-pod/src/main.ts`.
import { optionsFromEnv, startMediaPod } from './app.ts';

const pod = await startMediaPod({ ...optionsFromEnv(), logger: true });
pod.app.log.info({ url: pod.url }, 'media pod control API listening');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    pod.close().then(() => process.exit(0));
  });
}
