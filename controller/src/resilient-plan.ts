import { family, routePrefix } from './node-routes';
import { RESILIENT_MEMBERS_PER_HOP, ResilientHashingModel } from '../../lib/model';

/**
 * Pure logic of the router's resilient-route installer: the routing daemon (BIRD) puts its ECMP
 * routes into a table of their own, and the installer mirrors each into the main table through a
 * kernel nexthop group of type `resilient`. Unlike a plain multipath route (hash-threshold), whose
 * hash space is re-divided when a next hop comes or goes, a resilient group maps each hash bucket
 * to one next hop and moves only the buckets it must: a new next hop takes buckets that have been
 * idle for `idleTimer`, a removed one's buckets go to the rest, and every other bucket stays.
 */

/** One next hop of a route: the gateway and the interface it is reached on. */
export interface Hop {
  readonly gateway: string;
  readonly dev: string;
}

/** The routing daemon's routes: prefix -> next hops. */
export type SourceRoutes = Map<string, Hop[]>;

/** What the kernel holds of the installer's own (its protocol number). */
export interface InstalledState {
  /** Single next hops: id -> hop. */
  readonly hops: Map<number, Hop>;
  /** Groups: id -> member ids and bucket count. */
  readonly groups: Map<number, {
    readonly members: number[];
    readonly buckets: number;
    readonly idleTimer: number;
    readonly unbalancedTimer: number;
  }>;
  /** Main-table routes: prefix -> group id. */
  readonly routes: Map<string, number>;
  /** Every nexthop id in use, the installer's and anyone else's. */
  readonly usedIds: Set<number>;
}

/** Ids the installer gives out start here, clear of the low ids routing daemons allocate. */
export const FIRST_NEXTHOP_ID = 2_120_000_000;

interface IpRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly nhid?: number;
  readonly nexthops?: { readonly gateway?: string; readonly dev?: string }[];
}

interface IpNexthop {
  readonly id: number;
  readonly gateway?: string;
  readonly dev?: string;
  readonly group?: { readonly id: number }[];
  readonly resilient_args?: { readonly buckets: number; readonly idle_timer: number; readonly unbalanced_timer: number };
  readonly protocol?: string;
}

const hopKey = (hop: Hop) => `${hop.gateway}%${hop.dev}`;

/** Parses `ip -j route show table T` (a family's routes): single-path and multipath alike. */
export function parseSourceRoutes(json: string): SourceRoutes {
  const routes: SourceRoutes = new Map();
  for (const route of JSON.parse(json || '[]') as IpRoute[]) {
    const hops = (route.gateway ? [{ gateway: route.gateway, dev: route.dev }] : route.nexthops ?? [])
      .filter((h): h is Hop => typeof h.gateway === 'string' && typeof h.dev === 'string');
    if (hops.length === 0) continue; // a blackhole or a device route: nothing to balance
    const unique = new Map(hops.map((h) => [hopKey(h), { gateway: h.gateway, dev: h.dev }]));
    routes.set(routePrefix(route.dst), [...unique.values()].sort((a, b) => hopKey(a).localeCompare(hopKey(b))));
  }
  return routes;
}

/** Reads the installer's state from `ip -j nexthop show` (every nexthop; its own carry `protocol`) and its routes (`ip -j route show proto P`, per family). */
export function parseInstalledState(allNexthopsJson: string, protocol: number, ownRoutesJsons: readonly string[]): InstalledState {
  const hops = new Map<number, Hop>();
  const groups: InstalledState['groups'] = new Map();
  const usedIds = new Set<number>();
  for (const nexthop of JSON.parse(allNexthopsJson || '[]') as IpNexthop[]) {
    usedIds.add(nexthop.id);
    if (nexthop.protocol !== String(protocol)) continue;
    if (nexthop.group && nexthop.resilient_args) {
      const args = nexthop.resilient_args;
      groups.set(nexthop.id, {
        members: nexthop.group.map((m) => m.id).sort((a, b) => a - b),
        buckets: args.buckets,
        idleTimer: args.idle_timer,
        unbalancedTimer: args.unbalanced_timer,
      });
    } else if (nexthop.gateway && nexthop.dev) {
      hops.set(nexthop.id, { gateway: nexthop.gateway, dev: nexthop.dev });
    }
  }
  const routes = new Map<string, number>();
  for (const route of ownRoutesJsons.flatMap((json) => JSON.parse(json || '[]') as IpRoute[])) {
    if (route.nhid !== undefined) routes.set(routePrefix(route.dst), route.nhid);
  }
  return { hops, groups, routes, usedIds };
}

/**
 * `ip` argument lists that take the kernel from `installed` to one resilient group per source
 * route. A group that only changes members is replaced in place, which keeps its buckets; one
 * whose bucket count changes (the kernel cannot) is built anew beside it. Order: new next hops,
 * groups, routes, then what is no longer used, so no route ever points at a missing group.
 */
export function planResilientRoutes(source: SourceRoutes, installed: InstalledState, settings: ResilientHashingModel): string[][] {
  const proto = ['proto', String(settings.protocol)];
  const used = new Set(installed.usedIds);
  const nextId = () => {
    let id = FIRST_NEXTHOP_ID;
    while (used.has(id)) id++;
    used.add(id);
    return id;
  };
  const hopIds = new Map<string, number[]>();
  for (const [id, hop] of [...installed.hops].sort(([a], [b]) => a - b)) hopIds.set(hopKey(hop), [...hopIds.get(hopKey(hop)) ?? [], id]);
  const keptHops = new Set<number>();
  const keptGroups = new Set<number>();
  const adds: string[][] = [];
  const groupCommands: string[][] = [];
  const routeCommands: string[][] = [];
  const groupArgs = ['type', 'resilient', 'buckets', String(settings.buckets), 'idle_timer', String(settings.idleTimerSeconds),
    'unbalanced_timer', String(settings.unbalancedTimerSeconds), ...proto];

  for (const [prefix, hops] of [...source].sort(([a], [b]) => a.localeCompare(b))) {
    const members = hops.flatMap((hop) => {
      const ids = (hopIds.get(hopKey(hop)) ?? []).slice(0, RESILIENT_MEMBERS_PER_HOP);
      while (ids.length < RESILIENT_MEMBERS_PER_HOP) {
        const id = nextId();
        ids.push(id);
        adds.push(['nexthop', 'add', 'id', String(id), 'via', hop.gateway, 'dev', hop.dev, ...proto]);
      }
      hopIds.set(hopKey(hop), ids);
      ids.forEach((id) => keptHops.add(id));
      return ids;
    }).sort((a, b) => a - b);
    const memberArg = ['group', members.join('/')];
    const current = installed.routes.get(prefix);
    const group = current !== undefined ? installed.groups.get(current) : undefined;
    let groupId = current;
    if (group && current !== undefined && group.buckets === settings.buckets) {
      const same = group.members.join('/') === members.join('/') && group.idleTimer === settings.idleTimerSeconds && group.unbalancedTimer === settings.unbalancedTimerSeconds;
      if (!same) groupCommands.push(['nexthop', 'replace', 'id', String(current), ...memberArg, ...groupArgs]);
    } else {
      groupId = nextId();
      groupCommands.push(['nexthop', 'add', 'id', String(groupId), ...memberArg, ...groupArgs]);
      routeCommands.push([family(prefix), 'route', 'replace', prefix, 'nhid', String(groupId), ...proto]);
    }
    keptGroups.add(groupId!);
  }

  const removals: string[][] = [];
  for (const prefix of [...installed.routes.keys()].sort()) {
    if (!source.has(prefix)) removals.push([family(prefix), 'route', 'del', prefix, ...proto]);
  }
  for (const id of [...installed.groups.keys()].sort((a, b) => a - b)) {
    if (!keptGroups.has(id)) removals.push(['nexthop', 'del', 'id', String(id)]);
  }
  for (const id of [...installed.hops.keys()].sort((a, b) => a - b)) {
    if (!keptHops.has(id)) removals.push(['nexthop', 'del', 'id', String(id)]);
  }
  return [...adds, ...groupCommands, ...routeCommands, ...removals];
}
