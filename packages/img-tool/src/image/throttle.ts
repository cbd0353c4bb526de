/** `-r`: wait until `done` bytes, counted from `started` (Date.now()), are no faster than `bytesPerSecond`. */
export async function throttle(started: number, done: number, bytesPerSecond: number): Promise<void> {
  const due = started + (done / bytesPerSecond) * 1000;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
