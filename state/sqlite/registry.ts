// The registry on SQLite: broker/registry.ts DeviceRegistry (synchronous, used directly by the
// CLI and the single-process broker) seen through RegistryStateStore.
import { DeviceRegistry, type RegistryOptions } from '../../broker/registry.js';
import type { DeviceRecord, Principal, RegistryStateStore, ServiceAccountRecord, ServiceRole } from '../registry.js';

export class SqliteRegistryState implements RegistryStateStore {
  readonly registry: DeviceRegistry;

  constructor(source: DeviceRegistry | { path: string; opts?: RegistryOptions }) {
    this.registry = source instanceof DeviceRegistry ? source : new DeviceRegistry(source.path, source.opts);
  }

  async addDevice(id: string, opts?: { site?: string; tenant?: string; rotate?: boolean }): Promise<string> {
    return this.registry.addDevice(id, opts);
  }
  async rotateDeviceToken(id: string): Promise<string> {
    return this.registry.rotateDeviceToken(id);
  }
  async removeDevice(id: string): Promise<boolean> {
    return this.registry.removeDevice(id);
  }
  async setDeviceDisabled(id: string, disabled: boolean): Promise<void> {
    this.registry.setDeviceDisabled(id, disabled);
  }
  async getDevice(id: string): Promise<DeviceRecord | null> {
    return this.registry.getDevice(id);
  }
  async listDevices(): Promise<DeviceRecord[]> {
    return this.registry.listDevices();
  }
  async addServiceAccount(name: string, role: ServiceRole): Promise<string> {
    return this.registry.addServiceAccount(name, role);
  }
  async rotateServiceToken(name: string, role: ServiceRole): Promise<string> {
    return this.registry.rotateServiceToken(name, role);
  }
  async removeServiceAccount(name: string): Promise<boolean> {
    return this.registry.removeServiceAccount(name);
  }
  async listServiceAccounts(): Promise<ServiceAccountRecord[]> {
    return this.registry.listServiceAccounts();
  }
  async credentialChangeCursor(): Promise<number> {
    return this.registry.credentialChangeCursor();
  }
  async credentialChangesSince(cursor: number): Promise<Array<{ seq: number; name: string }>> {
    return this.registry.credentialChangesSince(cursor);
  }
  async login(username: string, password: Buffer | string): Promise<{ principal: Principal | null; cursor: number }> {
    // Read before the token is checked: a change after this point is newer than the cursor.
    const cursor = this.registry.credentialChangeCursor();
    return { principal: await this.registry.verify(username, password), cursor };
  }
  verify(username: string, password: Buffer | string): Promise<Principal | null> {
    return this.registry.verify(username, password);
  }
  async close(): Promise<void> {
    this.registry.close();
  }
}
