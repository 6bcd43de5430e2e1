/**
 * `max_pending_bytes`: the bytes an input holds for a pipeline that is not taking them yet (syslog UDP's
 * datagrams, otlp_grpc's requests), those being handed to it included. The pipeline's buffers bound what they
 * hold; this bounds what waits in front of them, which a count of events alone does not (one event may be
 * megabytes).
 *
 * What does not fit is refused (otlp_grpc: UNAVAILABLE, the client retries) or dropped (syslog UDP: nothing
 * can slow a UDP sender).
 */
export class ByteBudget {
  readonly max: number;
  /** Bytes held now. */
  used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /**
   * Whether `bytes` more may be taken: while they fit, and always when nothing is held, so that one larger
   * than the budget is still taken alone (as an empty buffer takes a batch larger than its capacity).
   */
  fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.max;
  }

  /** Nothing more fits (but what one larger than the budget brings when nothing is held). */
  get spent(): boolean {
    return this.used >= this.max;
  }

  take(bytes: number): void {
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}
