/**
 * The operator's controllers, registered on a manager. Each kind's controller lives in
 * its own file; this is the one list of what `manyfold operator` runs.
 */
import type { Logger } from '../runtime/log.ts';
import { cellController } from './cell.ts';
import { fencedLeaseController } from './fencedlease.ts';
import { ratePolicyController } from './ratepolicy.ts';
import { sensorFleetController } from './sensorfleet.ts';
import type { Manager } from '../runtime/manager.ts';

export interface ControllerOptions {
  /** Default etcd endpoints for FencedLease (from --etcd-endpoints). */
  readonly etcdEndpoints: readonly string[];
  /** Namespace the operator runs in (operator-wide settings live there). */
  readonly operatorNamespace: string;
  readonly log: Logger;
}

export function registerControllers(manager: Manager, options: ControllerOptions): void {
  manager.addController(cellController({ operatorNamespace: options.operatorNamespace }));
  manager.addController(fencedLeaseController({ defaultEndpoints: options.etcdEndpoints, operatorNamespace: options.operatorNamespace, log: options.log }));
  manager.addController(sensorFleetController({ operatorNamespace: options.operatorNamespace }));
  manager.addController(ratePolicyController({ operatorNamespace: options.operatorNamespace }));
}
