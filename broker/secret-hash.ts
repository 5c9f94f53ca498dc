// Salted scrypt hashes for secrets people and devices present (device tokens, service-account
// tokens, NOC passwords). Stored as `scrypt$N$r$p$salt$hash` (base64url), so the cost can change
// without invalidating old hashes; verification runs on libuv's thread pool and compares in
// constant time.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const SCRYPT_R = 8;
const SCRYPT_P = 1;

function scryptMaxmem(n: number, r: number): number {
  return 128 * n * r * 2 + 1024 * 1024;
}

/** Hashes a secret with scrypt cost `n` (a power of two). */
export function hashSecret(secret: string, n: number): string {
  const salt = randomBytes(SALT_BYTES);
  const h = scryptSync(secret, salt, HASH_BYTES, { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: scryptMaxmem(n, SCRYPT_R) });
  return ['scrypt', n, SCRYPT_R, SCRYPT_P, salt.toString('base64url'), h.toString('base64url')].join('$');
}

/** Does `secret` match the stored hash? False for a malformed hash, never throws. */
export function verifySecret(stored: string, secret: Buffer | string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return Promise.resolve(false);
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4], 'base64url');
  const expected = Buffer.from(parts[5], 'base64url');
  return new Promise((resolve) => {
    scrypt(secret, salt, expected.length, { N: n, r, p, maxmem: scryptMaxmem(n, r) }, (err, got) => {
      resolve(!err && got.length === expected.length && timingSafeEqual(got, expected));
    });
  });
}
