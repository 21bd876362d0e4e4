/** A single updating progress line on a TTY (stderr), for runs over many namespaces. */
export function progressReporter(
  stream: NodeJS.WriteStream = process.stderr,
  minTotal = 20,
): {
  update: (done: number, total: number) => void;
  end: () => void;
} {
  let last = 0;
  let shown = false;
  const started = Date.now();
  return {
    update(done, total) {
      if (!stream.isTTY || total < minTotal) return;
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      shown = true;
      const rate = done / Math.max(0.001, (now - started) / 1000);
      stream.write(`\r\x1b[2Kregcred-rotator: ${done}/${total} namespaces (${rate.toFixed(0)}/s)`);
    },
    end() {
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}
