import * as grpc from '@grpc/grpc-js';
import type { ParticipantClient } from '../generated/tcc/v1/Participant';
import { ParticipantStream } from './participant-stream';

/** Options of {@link TargetStreams}. */
export interface TargetStreamsOptions {
  /** Streams kept open to the target; calls are spread over them (each pins to one backend). */
  streamsPerTarget: number;
  /** Most calls in flight on one stream. */
  maxCallsPerStream: number;
  /** A stream idle this long is closed, ms. */
  idleMs: number;
  /** After the participant answered the stream UNIMPLEMENTED, how long the target is called unary before streams are tried again, ms. */
  reprobeMs: number;
}

/**
 * The Calls streams of one participant target (one channel). Streams are
 * opened on demand up to `streamsPerTarget` and calls go round robin over
 * those with room: with the channel's round_robin policy each stream lands
 * on the next backend, so a target resolving to several addresses gets its
 * calls spread over all of them. When every stream is full, {@link pick}
 * finds none and the call goes unary (memory stays bounded).
 */
export class TargetStreams {
  private readonly streams: ParticipantStream[] = [];
  private next = 0;
  /** Date.now() before which the target is called unary (its participant answered the stream UNIMPLEMENTED). */
  private unaryUntil = 0;

  constructor(
    private readonly client: ParticipantClient,
    private readonly options: TargetStreamsOptions,
  ) {}

  /** A stream with room for one more call, opened if need be; undefined: call unary. */
  pick(): ParticipantStream | undefined {
    if (Date.now() < this.unaryUntil) return undefined;
    if (this.streams.length < this.options.streamsPerTarget) return this.openStream();
    for (let i = 0; i < this.streams.length; i++) {
      const s = this.streams[(this.next + i) % this.streams.length];
      if (s.inFlight < this.options.maxCallsPerStream) {
        this.next = (this.next + i + 1) % this.streams.length;
        return s;
      }
    }
    return undefined;
  }

  /** The participant has no Calls method: call it unary until the next probe. */
  useUnary(): void {
    this.unaryUntil = Date.now() + this.options.reprobeMs;
    for (const s of [...this.streams]) s.end();
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.length;
  }

  /** Half-closes every stream: calls already sent keep their answers. */
  end(): void {
    for (const s of [...this.streams]) s.end();
  }

  private openStream(): ParticipantStream {
    // No deadline: the stream is long-lived, each call carries its own.
    const call = this.client.Calls(new grpc.Metadata());
    const stream = new ParticipantStream(call, {
      idleMs: this.options.idleMs,
      onGone: (gone) => {
        const i = this.streams.indexOf(gone);
        if (i >= 0) this.streams.splice(i, 1);
      },
    });
    this.streams.push(stream);
    return stream;
  }
}
