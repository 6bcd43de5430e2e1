/**
 * The address a network input is bound to, known once it listens (the real port when configured with
 * port 0): tests and the log read it from here.
 */
import type { ListenAddress } from './address.js';

export class Listening {
  /** Resolves with the bound address; rejects when the input cannot listen. */
  readonly address: Promise<ListenAddress>;
  resolve!: (address: ListenAddress) => void;
  reject!: (err: Error) => void;

  constructor() {
    this.address = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A failure to listen is reported through run(); an unobserved rejection here must not crash.
    this.address.catch(() => undefined);
  }
}
