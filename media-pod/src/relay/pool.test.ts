import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PoolSet, PortPool, parsePortRange } from './pool.ts';

describe('port pools', () => {
  it('hands out even ports FIFO within the range and reuses freed ports last', () => {
    const p = new PortPool({ name: 'x', low: 40_001, high: 40_010 });
    assert.deepEqual([p.take(), p.take(), p.take(), p.take()], [40_002, 40_004, 40_006, 40_008]);
    assert.equal(p.take(), null); // 40010 has no odd partner inside the range
    p.release(40_004);
    assert.equal(p.take(), 40_004);
    p.release(12); // not ours: ignored
    assert.equal(p.available, 0);
  });

  it('resolves dedicated tenant pools before the shared one and refuses overlaps', () => {
    const s = new PoolSet([
      { name: 'shared', low: 30_000, high: 30_099 },
      { name: 'contoso', low: 31_000, high: 31_099, tenants: ['contoso'] },
    ]);
    assert.equal(s.forTenant('contoso')?.name, 'contoso');
    assert.equal(s.forTenant('fabrikam')?.name, 'shared');
    assert.equal(new PoolSet([{ name: 'only', low: 1000, high: 2000, tenants: ['a'] }]).forTenant('b'), null);
    assert.throws(
      () =>
        new PoolSet([
          { name: 'a', low: 1000, high: 2000 },
          { name: 'b', low: 1500, high: 2500 },
        ]),
    );
    assert.deepEqual(parsePortRange('40000-40999'), { low: 40_000, high: 40_999 });
    assert.throws(() => parsePortRange('40000'));
  });
});
