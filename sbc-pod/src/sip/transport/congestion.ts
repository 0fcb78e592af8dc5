// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (or over 1300 bytes when the MTU is unknown) must go
// over a congestion-controlled transport such as TCP.

export const DEFAULT_PATH_MTU = 1500;

/** True when a request of `messageSize` bytes must not be sent over UDP on a path with this MTU. */
export function mustUseCongestionControlledTransport(messageSize: number, pathMtu: number = DEFAULT_PATH_MTU): boolean {
  return messageSize > pathMtu - 200;
}

/** Cheap check on the first bytes: responses start with `SIP/2.0 ` (RFC 3261 §7.2); they are never switched. */
export function looksLikeResponse(data: Buffer): boolean {
  return data.length >= 8 && data.toString('latin1', 0, 8) === 'SIP/2.0 ';
}
