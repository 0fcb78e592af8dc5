// Keeps a long-running subcommand alive until SIGINT/SIGTERM, then closes it once (a second signal forces exit).
export function runUntilSignal(close: () => Promise<void>, log: (msg: string) => void): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) process.exit(130);
      closing = true;
      log(`received ${signal}, shutting down`);
      close().then(
        () => resolve(0),
        (err: unknown) => {
          log(`shutdown failed: ${String(err)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
