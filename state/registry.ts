// The device registry and service accounts seam: who may log in to the broker. Same method names
// as broker/registry.ts DeviceRegistry (the SQLite implementation wraps it), all async so the
// PostgreSQL implementation (state/postgres/registry.ts) fits. Tokens are returned once and
// stored only as salted scrypt hashes in both.
import type { DeviceRecord, Principal, ServiceAccountRecord, ServiceRole } from '../broker/registry.js';

export type { DeviceRecord, Principal, ServiceAccountRecord, ServiceRole };

export interface RegistryStateStore {
  /** Registers a device and returns its token; RegistryError 'exists' unless `rotate`. */
  addDevice(id: string, opts?: { site?: string; tenant?: string; rotate?: boolean }): Promise<string>;
  /** New token for an existing device; the old one stops working at once. */
  rotateDeviceToken(id: string): Promise<string>;
  removeDevice(id: string): Promise<boolean>;
  setDeviceDisabled(id: string, disabled: boolean): Promise<void>;
  getDevice(id: string): Promise<DeviceRecord | null>;
  listDevices(): Promise<DeviceRecord[]>;
  addServiceAccount(name: string, role: ServiceRole): Promise<string>;
  /** New token for a service account, creating it if missing (and setting its role). */
  rotateServiceToken(name: string, role: ServiceRole): Promise<string>;
  removeServiceAccount(name: string): Promise<boolean>;
  listServiceAccounts(): Promise<ServiceAccountRecord[]>;
  /** Who a username/password pair is, or null; unknown names cost the same hashing work. */
  verify(username: string, password: Buffer | string): Promise<Principal | null>;
  /**
   * The newest credential change (rotate, remove, disable; 0: none). A broker reads it before
   * verifying a login: a change after that closes the session again (revocation, on every node).
   */
  credentialChangeCursor(): Promise<number>;
  /**
   * A broker's login: `verify` plus the credential-change cursor as of the same read (one round
   * trip on PostgreSQL — a failover brings thousands of logins to a node at once).
   */
  login(username: string, password: Buffer | string): Promise<{ principal: Principal | null; cursor: number }>;
  /** Logins whose credentials changed after `cursor`, each with the seq of its latest change, oldest first. */
  credentialChangesSince(cursor: number): Promise<Array<{ seq: number; name: string }>>;
  close(): Promise<void>;
}
