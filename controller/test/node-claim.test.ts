import { claimNode } from '../src/node-claim';

/** The claim through an abstract unix socket (real sockets, the test's network namespace). */
describe('claimNode', () => {
  const name = `ecmp-lb-test-claim-${process.pid}`;

  test('a second agent is refused while the first holds the claim, and the error names the holder', async () => {
    const first = await claimNode({ name, holder: 'lb/agent-a', waitMs: 0 });
    try {
      await expect(claimNode({ name, holder: 'shop/agent-b', waitMs: 300, retryMs: 100 }))
        .rejects.toThrow(`another ecmp-lb node agent (lb/agent-a) holds ${name} on this node`);
    } finally {
      await first.release();
    }
    const again = await claimNode({ name, holder: 'shop/agent-b', waitMs: 0 });
    await again.release();
  });

  test('a replacement waits for the agent it replaces to release the claim', async () => {
    const old = await claimNode({ name, holder: 'lb/old', waitMs: 0 });
    setTimeout(() => void old.release(), 300);
    const started = Date.now();
    const replacement = await claimNode({ name, holder: 'lb/new', waitMs: 5000, retryMs: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await replacement.release();
  });

  test('claims of other names do not collide', async () => {
    const a = await claimNode({ name: `${name}-a`, holder: 'x/a', waitMs: 0 });
    const b = await claimNode({ name: `${name}-b`, holder: 'x/b', waitMs: 0 });
    await Promise.all([a.release(), b.release()]);
  });
});
