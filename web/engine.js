// The page's handle on the worker (web/worker.js) that owns the wasm engine. Every method
// returns a promise; long requests take an `onProgress` callback.

export class EngineClient {
  constructor() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = (event) => {
      const { id, result, error, progress } = event.data;
      const call = this.pending.get(id);
      if (!call) return;
      if (progress) {
        call.onProgress?.(progress);
        return;
      }
      this.pending.delete(id);
      if (error !== undefined) call.reject(new Error(error));
      else call.resolve(result);
    };
    this.worker.onerror = (event) => {
      // A worker that fails to start (e.g. the wasm package is missing) rejects everything.
      const error = new Error(event.message || 'the engine worker failed to start');
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    };
    // Latest-wins queue for steered searches: a slider fires many requests per second, and only
    // the newest one matters.
    this.steerInFlight = false;
    this.steerWaiting = null;
  }

  call(method, args = {}, onProgress = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, method, args });
    });
  }

  /**
   * A steered search that supersedes any not yet started: resolves with `null` when a newer
   * request replaced it before it ran.
   */
  steer(args) {
    return new Promise((resolve, reject) => {
      if (this.steerWaiting) this.steerWaiting.resolve(null);
      this.steerWaiting = { args, resolve, reject };
      this.pumpSteer();
    });
  }

  async pumpSteer() {
    if (this.steerInFlight || !this.steerWaiting) return;
    const { args, resolve, reject } = this.steerWaiting;
    this.steerWaiting = null;
    this.steerInFlight = true;
    try {
      resolve(await this.call('steeredSearch', args));
    } catch (e) {
      reject(e);
    } finally {
      this.steerInFlight = false;
      this.pumpSteer();
    }
  }
}
