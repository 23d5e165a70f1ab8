import type { BusMessage, ClientInfo, ControlCommand, Publication } from '../types.js';

/**
 * What travels between instances through Redis pub/sub, as compact JSON (one object per
 * message):
 *
 *   pub, with history     {"t":"p","o":<offset>,"e":"<epoch>","p":<publication without offset>}
 *                         (built by the publish script in redis-streams.ts, which alone knows
 *                         the offset; keep the two in step)
 *   pub, without history  {"t":"p","p":<publication>,"e":"<epoch>"?}
 *   join / leave          {"t":"j"|"l","i":<client info>}
 *
 * The control channel carries the ControlCommand as it is. History entries store the
 * publication without its offset, which is the entry's id.
 */

interface WireMessage {
  t?: unknown;
  o?: unknown;
  e?: unknown;
  p?: unknown;
  i?: unknown;
}

export function encodeBusMessage(message: BusMessage): string {
  switch (message.type) {
    case 'pub':
      return JSON.stringify({ t: 'p', p: message.publication, e: message.epoch });
    case 'join':
      return JSON.stringify({ t: 'j', i: message.info });
    case 'leave':
      return JSON.stringify({ t: 'l', i: message.info });
  }
}

/** The JSON a publication is stored and carried as, without the offset the stream assigns. */
export function encodePublicationBody(publication: Publication): string {
  const { offset: _offset, ...body } = publication;
  return JSON.stringify(body);
}

/** Throws on anything that is not a message this codec wrote. */
export function decodeBusMessage(text: string): BusMessage {
  const wire = JSON.parse(text) as WireMessage;
  if (wire === null || typeof wire !== 'object') throw new Error('bus message is not an object');
  switch (wire.t) {
    case 'p': {
      const publication = asObject(wire.p, 'publication') as unknown as Publication;
      if (typeof wire.o === 'number') publication.offset = wire.o;
      else if (typeof publication.offset !== 'number') publication.offset = 0;
      return typeof wire.e === 'string' ? { type: 'pub', publication, epoch: wire.e } : { type: 'pub', publication };
    }
    case 'j':
      return { type: 'join', info: asObject(wire.i, 'info') as unknown as ClientInfo };
    case 'l':
      return { type: 'leave', info: asObject(wire.i, 'info') as unknown as ClientInfo };
    default:
      throw new Error(`unknown bus message type ${JSON.stringify(wire.t)}`);
  }
}

export function decodeStoredPublication(offset: number, body: string): Publication {
  const publication = asObject(JSON.parse(body), 'publication') as unknown as Publication;
  publication.offset = offset;
  return publication;
}

export function encodeControl(command: ControlCommand): string {
  return JSON.stringify(command);
}

export function decodeControl(text: string): ControlCommand {
  const command = asObject(JSON.parse(text), 'control command');
  if (typeof command.type !== 'string') throw new Error('control command without type');
  return command as unknown as ControlCommand;
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} is not an object`);
  return value as Record<string, unknown>;
}
