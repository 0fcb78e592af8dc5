// Via branch ids (RFC 3261 §8.1.1.7): globally unique, starting with the magic cookie.
import { randomBytes } from 'node:crypto';

export const MAGIC_COOKIE = 'z9hG4bK';

const POOL_SIZE = 4096;
const ID_BYTES = 12;
let pool = Buffer.alloc(0);
let offset = POOL_SIZE;

/** A fresh RFC 3261 branch: `z9hG4bK` + 16 base64url characters (96 random bits). */
export function generateBranch(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return MAGIC_COOKIE + id;
}

/** True when the branch was produced by an RFC 3261 element (and so is usable as a transaction id). */
export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch?.startsWith(MAGIC_COOKIE) === true && branch.length > MAGIC_COOKIE.length;
}
