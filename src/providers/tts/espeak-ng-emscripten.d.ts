// The package ships JavaScript only. These are the parts of its Emscripten/WebIDL binding that
// taskproc calls, typed from reading espeak-ng.js (0.3.x); everything else stays undeclared.
declare module '@echogarden/espeak-ng-emscripten' {
  /** The synthesizer instance the binding exposes (one per loaded module is enough). */
  export interface ESpeakNGWorker {
    /** Output rate in Hz, fixed by the engine (22050). */
    get_samplerate(): number;
    /** 0 (EE_OK) on success, 2 (EE_NOT_FOUND) for an unknown voice name. */
    set_voice(name: string): number;
    /**
     * Runs synchronously to the end of the text, calling back with each block of 16-bit mono
     * samples (copied out of the heap). Returning true from the callback stops the synthesis.
     * The text is read with SSML and [[phoneme]] input enabled.
     */
    synthesize(text: string, onSamples: (samples: Int16Array, events: unknown[]) => boolean): void;
  }

  export interface ESpeakNGModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
  }

  /** Instantiates the WebAssembly module and loads espeak-ng.data (24 MB of voices) next to it. */
  export default function initialize(options?: Record<string, unknown>): Promise<ESpeakNGModule>;
}
