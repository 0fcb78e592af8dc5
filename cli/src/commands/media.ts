// `switchboard media`: a media relay pod (RTP/SRTP anchoring) with its control API. Configuration from
// SWITCHBOARD_MEDIA_IP, SWITCHBOARD_MEDIA_ADVERTISED_IP, SWITCHBOARD_MEDIA_PORTS, SWITCHBOARD_MEDIA_API_LISTEN,
// SWITCHBOARD_MEDIA_API_ADVERTISED_URL, SWITCHBOARD_MEDIA_POOL, SWITCHBOARD_MEDIA_NO_MEDIA_TIMEOUT,
// SWITCHBOARD_REDIS_URL and SWITCHBOARD_MEDIA_POD_ID (media-pod/README.md).
import { optionsFromEnv, startMediaPod } from '../../../media-pod/src/index.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('Usage: switchboard media   (configured by environment variables, see media-pod/README.md)\n');
    return 0;
  }
  let pod: Awaited<ReturnType<typeof startMediaPod>>;
  try {
    pod = await startMediaPod({ ...optionsFromEnv(), logger: true });
  } catch (err) {
    process.stderr.write(`switchboard media: ${(err as Error).message}\n`);
    return 1;
  }
  pod.app.log.info(
    { url: pod.url, advertisedUrl: pod.advertisedUrl, pool: pod.mediaPool, podId: pod.podId },
    'media pod control API listening',
  );
  return runUntilSignal(
    () => pod.close(),
    (m) => pod.app.log.info(m),
  );
}
