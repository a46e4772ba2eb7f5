/**
 * The Sphinx geometry options every party configures alike (`umbra directory`, `umbra mix`, `umbra gateway`):
 * the scheme, payload length and SURB room, with the same defaults everywhere, and the geometry they derive
 * with a hop count, so that equal options give an equal geometry hash. Each role adds its own `hops` option.
 */
import { ConfigError } from '../errors.ts';
import type { ConfigSchema } from '../ops/config.ts';
import { Geometry } from '../sphinx/index.ts';

export const SPHINX_OPTIONS = {
  sphinxScheme: {
    type: 'string',
    default: 'x25519',
    choices: ['x25519', 'MLKEM768', 'XWING'],
    description: 'Sphinx key scheme',
  },
  payloadLength: {
    type: 'integer',
    default: 2_000,
    min: 1,
    max: 65_536,
    description: 'user forward payload bytes per packet',
  },
  withSurb: { type: 'boolean', default: true, description: 'forward payloads reserve room for a SURB' },
} as const satisfies ConfigSchema;

/** The geometry the four Sphinx options derive; `ConfigError` if they are inconsistent. */
export function geometryFromOptions(options: {
  readonly sphinxScheme: 'x25519' | 'MLKEM768' | 'XWING';
  readonly payloadLength: number;
  readonly withSurb: boolean;
  readonly hops: number;
}): Geometry {
  try {
    return Geometry.create({
      scheme: options.sphinxScheme,
      userForwardPayloadLength: options.payloadLength,
      withSurb: options.withSurb,
      nrHops: options.hops,
    });
  } catch (error) {
    throw new ConfigError(
      'invalid_value',
      `the Sphinx geometry options are inconsistent: ${(error as Error).message}`,
    );
  }
}
