/**
 * Counts the work done on bytes while it runs, for tests of cost that must not depend on the machine's
 * speed: the bytes written by Buffer.concat and copied by Uint8Array#set (the two ways the inputs and the
 * msgpack decoder join bytes), and the bytes Buffer#indexOf and #lastIndexOf may scan. Everything in the
 * process is counted until `stop()`, which must be called (in a finally).
 */
export interface ByteWork {
  copied: number;
  searched: number;
  stop(): void;
}

export function countByteWork(): ByteWork {
  const concat = Buffer.concat;
  const set = Uint8Array.prototype.set;
  const indexOf = Buffer.prototype.indexOf;
  const lastIndexOf = Buffer.prototype.lastIndexOf;
  const work: ByteWork = {
    copied: 0,
    searched: 0,
    stop: () => {
      Buffer.concat = concat;
      Uint8Array.prototype.set = set;
      Buffer.prototype.indexOf = indexOf;
      Buffer.prototype.lastIndexOf = lastIndexOf;
    },
  };
  Buffer.concat = (list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    work.copied += out.length;
    return out;
  };
  Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    work.copied += source.length;
    set.call(this, source, offset);
  };
  Buffer.prototype.indexOf = function (this: Buffer, ...args: Parameters<Buffer['indexOf']>) {
    work.searched += this.length - Math.max(0, Number(args[1] ?? 0));
    return indexOf.apply(this, args);
  };
  Buffer.prototype.lastIndexOf = function (this: Buffer, ...args: Parameters<Buffer['lastIndexOf']>) {
    work.searched += this.length;
    return lastIndexOf.apply(this, args);
  };
  return work;
}
