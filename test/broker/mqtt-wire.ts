// Minimal MQTT 3.1.1 packet encoders for floods and connection benchmarks, where a full client
// per connection would measure the client instead of the broker.

function varLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(header: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([header]), varLength(body.length), body]);
}

export function connectPacket(o: { clientId: string; username?: string; password?: string; keepalive?: number }): Buffer {
  let flags = 0x02; // clean session
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(o.keepalive ?? 0);
  const parts = [str('MQTT'), Buffer.from([4, flags]), ka, str(o.clientId)];
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return packet(0x10, Buffer.concat(parts));
}

export function subscribePacket(messageId: number, topic: string, qos: 0 | 1): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(0x82, Buffer.concat([id, str(topic), Buffer.from([qos])]));
}

export function publishPacket(topic: string, payload: Buffer, qos: 0 | 1, messageId = 1): Buffer {
  const parts = [str(topic)];
  if (qos > 0) {
    const id = Buffer.alloc(2);
    id.writeUInt16BE(messageId);
    parts.push(id);
  }
  parts.push(payload);
  return packet(0x30 | (qos << 1), Buffer.concat(parts));
}

/** CONNACK return code from the first bytes a broker sends back, or null if not a CONNACK. */
export function connackCode(data: Buffer): number | null {
  return data.length >= 4 && data[0] === 0x20 ? data[3] : null;
}
