// Public surface of the broker: the CLI and tests import from here.
export { startBroker, type BrokerHandle, type BrokerStats } from './broker.js';
export { brokerConfigSchema, type BrokerConfig, type BrokerConfigInput } from './config.js';
export {
  DeviceRegistry,
  RegistryError,
  REGISTRY_FILE,
  serviceRole,
  type Principal,
  type ServiceRole,
  type DeviceRecord,
  type ServiceAccountRecord,
} from './registry.js';
export { mayPublish, maySubscribe, mayLeaveWill, type AclDecision } from './acl.js';
export { FloodSafeMq } from './flood-safe-mq.js';
export { createEngines, type BrokerEngines } from './engines.js';
