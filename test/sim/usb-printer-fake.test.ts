// The fake follows the node-usb-rs rules the driver relies on: transfers need a claimed interface,
// usblp must be detached before claiming, errors have node-usb-rs's messages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeUsbPrinterDevice, deviceIdFixtures } from '../../sim/usb-printer-fake.js';

const mk = () => new FakeUsbPrinterDevice({ vendorId: 0x0519, productId: 0x0003, deviceId: deviceIdFixtures.starTsp143, interfaceNumber: 1 });
const setup = { requestType: 'class' as const, recipient: 'interface' as const, request: 1, value: 0, index: 1 };
const msg = async (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: Error) => e.message,
  );

test('transfers before open/claim fail with "invalid state"; claim fails while usblp holds the interface', async () => {
  const d = mk();
  assert.is(await msg(d.controlTransferIn(setup, 1)), 'controlTransferIn error: invalid state');
  await d.open();
  assert.is(await msg(d.claimInterface(1)), 'claimInterface error: Device or resource busy (os error 16)');
  await d.detachKernelDriver(1);
  await d.claimInterface(1);
  const r = await d.controlTransferIn(setup, 1);
  assert.is(r.data!.getUint8(0), 0x18);
  assert.is(await msg(d.attachKernelDriver(1)), 'attachKernelDriver error: Device or resource busy (os error 16)');
  await d.releaseInterface(1);
  await d.attachKernelDriver(1);
});

test('GET_DEVICE_ID with the interface in the low byte stalls, as a strict printer would', async () => {
  const d = mk();
  await d.open();
  await d.detachKernelDriver(1);
  await d.claimInterface(1);
  assert.is(await msg(d.controlTransferIn({ ...setup, request: 0, index: 1 }, 1024)), 'controlTransferIn error: endpoint stalled');
  const ok = await d.controlTransferIn({ ...setup, request: 0, index: 0x0100 }, 1024);
  assert.ok(ok.data!.byteLength > 10);
  d.disconnect();
  assert.is(await msg(d.controlTransferIn(setup, 1)), 'controlTransferIn error: device disconnected');
});

test.run();
