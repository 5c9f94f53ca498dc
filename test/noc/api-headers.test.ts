// The NOC's JSON API answers carry the same `nosniff` as the page: a browser must not read an
// answer (which may echo user text) as HTML or script — errors included.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiClient, startNocServer } from '../helpers/noc.js';

test('JSON API answers (ok, refused, not found) carry X-Content-Type-Options: nosniff', async () => {
  const s = await startNocServer();
  try {
    const anonymous = new ApiClient(s.url);
    const refused = await anonymous.get('/api/fleet');
    assert.is(refused.status, 401);
    assert.is(refused.headers.get('x-content-type-options'), 'nosniff');
    const viewer = await ApiClient.login(s.url, 'viewer');
    const fleet = await viewer.get('/api/fleet');
    assert.is(fleet.status, 200);
    assert.match(fleet.headers.get('content-type') ?? '', 'application/json');
    assert.is(fleet.headers.get('x-content-type-options'), 'nosniff');
    const missing = await viewer.get('/api/no-such-route');
    assert.is(missing.status, 404);
    assert.is(missing.headers.get('x-content-type-options'), 'nosniff');
  } finally {
    await s.close();
  }
});

test.run();
