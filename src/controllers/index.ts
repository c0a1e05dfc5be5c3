/**
 * The operator's controllers, registered on a manager. Each kind's controller lives in
 * its own file; this is the one list of what `manyfold operator` runs.
 */
import type { Logger } from '../runtime/log.ts';
import { cellController } from './cell.ts';
import { featureFlagController } from './featureflag.ts';
import { fencedLeaseController } from './fencedlease.ts';
import { rolloutController } from './rollout.ts';
import { ratePolicyController } from './ratepolicy.ts';
import { sensorFleetController } from './sensorfleet.ts';
import { shardMapController, shardMapPlacements } from './shardmap.ts';
import type { Manager } from '../runtime/manager.ts';
import type { FencedLeasePolicy } from '../reconcilers/fencedlease-target.ts';
import type { SensorFleetPolicy } from '../reconcilers/sensorfleet-policy.ts';

export interface ControllerOptions {
  /** Default etcd endpoints for FencedLease (from --etcd-endpoints). */
  readonly etcdEndpoints: readonly string[];
  /** Namespace the operator runs in (operator-wide settings live there). */
  readonly operatorNamespace: string;
  readonly log: Logger;
  /** What namespace users may reach (operator flags). @default DefaultTenancyPolicy */
  readonly tenancy?: { readonly fencedLease: FencedLeasePolicy; readonly sensorFleet: SensorFleetPolicy } | undefined;
  /** SensorFleet heartbeat batching, ms (--sensorfleet-heartbeat-batch). @default DEFAULT_HEARTBEAT_BATCH_MS */
  readonly sensorFleetHeartbeatBatchMs?: number | undefined;
}

export function registerControllers(manager: Manager, options: ControllerOptions): void {
  manager.addController(cellController({ operatorNamespace: options.operatorNamespace, placementProviders: [shardMapPlacements] }));
  manager.addController(shardMapController({ operatorNamespace: options.operatorNamespace }));
  manager.addController(fencedLeaseController({ defaultEndpoints: options.etcdEndpoints, operatorNamespace: options.operatorNamespace, log: options.log, policy: options.tenancy?.fencedLease }));
  manager.addController(sensorFleetController({ operatorNamespace: options.operatorNamespace, policy: options.tenancy?.sensorFleet, heartbeatBatchMs: options.sensorFleetHeartbeatBatchMs }));
  manager.addController(featureFlagController({ operatorNamespace: options.operatorNamespace }));
  manager.addController(rolloutController({ operatorNamespace: options.operatorNamespace }));
  manager.addController(ratePolicyController({ operatorNamespace: options.operatorNamespace }));
}
