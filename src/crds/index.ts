/**
 * The Manyfold kinds: schemas, types, parsers and defaults per kind, and the list the
 * CRD generator (`manyfold crds`) and the controllers share.
 */
import { CellKind } from './cell.ts';
import { resourceOf, type KindDefinition, type KindResource } from './crd.ts';
import { FeatureFlagKind } from './featureflag.ts';
import { FencedLeaseKind } from './fencedlease.ts';
import { RatePolicyKind } from './ratepolicy.ts';
import { RolloutKind } from './rollout.ts';
import { SensorFleetKind } from './sensorfleet.ts';
import { ShardMapKind } from './shardmap.ts';

/** Every Manyfold kind, in the order of the API contract. */
export const allKinds: readonly KindDefinition[] = [
  CellKind,
  ShardMapKind,
  FeatureFlagKind,
  RolloutKind,
  FencedLeaseKind,
  RatePolicyKind,
  SensorFleetKind,
];

/** REST coordinates of each kind, for `KubeClient` (structurally a `ResourceType`). */
export const ManyfoldResources = {
  Cell: resourceOf(CellKind),
  ShardMap: resourceOf(ShardMapKind),
  FeatureFlag: resourceOf(FeatureFlagKind),
  Rollout: resourceOf(RolloutKind),
  FencedLease: resourceOf(FencedLeaseKind),
  RatePolicy: resourceOf(RatePolicyKind),
  SensorFleet: resourceOf(SensorFleetKind),
} as const satisfies Record<string, KindResource>;

export * from './cell.ts';
export * from './common.ts';
export * from './crd.ts';
export * from './featureflag.ts';
export * from './fencedlease.ts';
export * from './parse.ts';
export * from './ratepolicy.ts';
export * from './rollout.ts';
export * from './sensorfleet.ts';
export * from './shardmap.ts';
