// @ts-check
// The page's handle on the worker (web/worker.js) that owns the wasm engine. Every method
// returns a promise; long requests take an `onProgress` callback.

/** @import { EngineMethod, EngineMethods, EngineStatus, Progress, SteerArgs, SteeredSearch } from './types.js' */

/**
 * A request waiting for its answer.
 * @typedef {object} Pending
 * @property {(result: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {((progress: Progress) => void) | null} onProgress
 */

export class EngineClient {
  constructor() {
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /**
     * Called after the worker was replaced because the engine crashed: the new worker holds no
     * engine and no bundle yet, so the page starts it again.
     * @type {((reason: string) => void) | null}
     */
    this.onRestart = null;
    /**
     * Called when what runs the engine's math changed (the GPU device was lost, and the CPU
     * computes since), before the answer that says so settles its call.
     * @type {((status: EngineStatus) => void) | null}
     */
    this.onStatus = null;
    this.worker = this.spawn();
    // Latest-wins queue for steered searches: a slider fires many requests per second, and only
    // the newest one matters.
    this.steerInFlight = false;
    /** @type {{ args: SteerArgs, resolve: (result: SteeredSearch | null) => void, reject: (error: Error) => void } | null} */
    this.steerWaiting = null;
  }

  /** A new worker whose answers settle the pending calls. */
  spawn() {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (event) => {
      const { id, result, error, progress, fatal, engine } = event.data;
      if (engine) this.onStatus?.(engine);
      const call = this.pending.get(id);
      if (!call) return;
      if (progress) {
        call.onProgress?.(progress);
        return;
      }
      this.pending.delete(id);
      if (error !== undefined) call.reject(new Error(error));
      else call.resolve(result);
      if (fatal) this.restart(error);
    };
    worker.onerror = (event) => {
      // A worker that fails to start (e.g. the wasm package is missing) rejects everything.
      const error = new Error(event.message || 'the engine worker failed to start');
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    };
    return worker;
  }

  /**
   * Replaces a worker whose wasm module trapped (it would fail every later call): the calls
   * still waiting are rejected, a fresh worker takes over, and `onRestart` is told why.
   * @param {string} reason
   */
  restart(reason) {
    this.worker.terminate();
    const error = new Error(`the engine was restarted after a crash (${reason})`);
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    this.steerWaiting?.reject(error);
    this.steerWaiting = null;
    this.worker = this.spawn();
    this.onRestart?.(reason);
  }

  /**
   * Asks the worker to run `method` on `args`; resolves with its result, rejects with its error.
   * @template {EngineMethod} M
   * @param {M} method
   * @param {EngineMethods[M]['args']} [args]
   * @param {((progress: Progress) => void) | null} [onProgress] called with each progress message
   * @returns {Promise<EngineMethods[M]['result']>}
   */
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
   * @param {SteerArgs} args
   * @returns {Promise<SteeredSearch | null>}
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
