import { ResilientHashingModel } from '../model';

/** `routers/<name>/resilient-routes.json`: the config `ecmp-lb resilient-routes` reads on the router. */
export function renderResilientRoutes(model: ResilientHashingModel): string {
  return JSON.stringify(model, null, 2) + '\n';
}
