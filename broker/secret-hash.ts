// Salted hashes for secrets people and devices present. Secrets people choose (NOC passwords)
// can be guessed, so they get scrypt, stored as `scrypt$N$r$p$salt$hash` (base64url) so that the
// cost can change without invalidating old hashes; verification runs on libuv's thread pool.
// Device and service tokens are 256 random bits fleetcare generated: nobody can guess one, so a
// slow hash adds nothing to them, while its cost is paid at every login — when a cluster node
// dies a third of the fleet logs in again within a second, and scrypt was most of the failover
// gap (docs/benchmarks.md). They get a salted SHA-256, `sha256$salt$hash`. Both compare in
// constant time; either format verifies whatever new hashes are made of.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

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

/** How a registry hashes the tokens it generates (`scrypt` costs `scryptCost` per login). */
export type TokenHash = 'sha256' | 'scrypt';

/** Hashes a generated token (≥ 256 random bits): salted SHA-256. */
export function hashToken(token: string): string {
  const salt = randomBytes(SALT_BYTES);
  return ['sha256', salt.toString('base64url'), sha256(salt, token).toString('base64url')].join('$');
}

function sha256(salt: Buffer, secret: Buffer | string): Buffer {
  return createHash('sha256').update(salt).update(secret).digest();
}

/**
 * Is `stored` of another kind than new token hashes are (`tokenHash`)? Then a registry stores the
 * token again, hashed the new way, at its next successful login: an installation upgraded from
 * scrypt hashes gets fast logins without a rotate of every device.
 */
export function hashedOtherwise(stored: string, tokenHash: TokenHash): boolean {
  return !stored.startsWith(`${tokenHash}$`);
}

/** Does `secret` match the stored hash? False for a malformed hash, never throws. */
export function verifySecret(stored: string, secret: Buffer | string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length === 3 && parts[0] === 'sha256') {
    const expected = Buffer.from(parts[2], 'base64url');
    const got = sha256(Buffer.from(parts[1], 'base64url'), secret);
    return Promise.resolve(got.length === expected.length && timingSafeEqual(got, expected));
  }
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
