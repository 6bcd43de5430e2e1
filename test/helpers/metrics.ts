/** Reads the daemon's Prometheus metrics (`api.enabled: true`), and finds a free loopback port for the API. */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `metric{component_id="x"}` values from /metrics, keyed `name/component_id`. */
export async function scrape(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    for (const line of (await res.text()).split('\n')) {
      const m = /^driftlock_(\w+)\{component_id="([^"]+)"[^}]*\} (\S+)$/.exec(line);
      // A family with labels of its own (`anomalies_total` by `kind`): its sum, per component.
      if (m) out.set(`${m[1]}/${m[2]}`, (out.get(`${m[1]}/${m[2]}`) ?? 0) + Number(m[3]));
    }
  } catch {
    // not up yet
  }
  return out;
}
