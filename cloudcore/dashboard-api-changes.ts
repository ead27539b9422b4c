import type { DeviceView, StateEvent, TwinEvent, TwinView } from './dashboard-api-schemas.js';

/** An event for the streams: its name, the device it is about, and its data. */
export type DeviceEvent =
  | { event: 'device'; id: string; data: DeviceView }
  | { event: 'twin'; id: string; data: TwinEvent }
  | { event: 'state'; id: string; data: StateEvent }
  | { event: 'removed'; id: string; data: { id: string } };

/**
 * Turns each new view of a device into the events that tell a stream what changed, as the edge's streams do:
 * `twin` with only the twins that changed (null for one that is gone) and the whole delta, `state` when the
 * state, the node or its connection changed; `device` (the whole view) for a device first seen after the first
 * list, and `removed` for one deleted. It keeps, per device, what was last said of it.
 */
export class DeviceChanges {
  private readonly said = new Map<string, { twins: Map<string, string>; state: string }>();

  /** The events for device `id`'s new `view` (undefined: deleted); `announce`: a new device gets `device`. */
  update(id: string, view: DeviceView | undefined, announce: boolean): DeviceEvent[] {
    const before = this.said.get(id);
    if (!view) {
      if (!before) return [];
      this.said.delete(id);
      return [{ event: 'removed', id, data: { id } }];
    }
    const { state, lastOnlineTime, node, nodeConnected } = view;
    const stateEvent = { id, state, lastOnlineTime, node, nodeConnected };
    const now = {
      twins: new Map(Object.entries(view.twins).map(([name, twin]) => [name, JSON.stringify(twin)])),
      state: JSON.stringify(stateEvent),
    };
    this.said.set(id, now);
    const events: DeviceEvent[] = [];
    if (!before && announce) events.push({ event: 'device', id, data: view });
    const twins: Record<string, TwinView | null> = {};
    for (const [name, text] of now.twins)
      if (before?.twins.get(name) !== text) twins[name] = view.twins[name]!;
    for (const name of before?.twins.keys() ?? []) if (!now.twins.has(name)) twins[name] = null;
    if (Object.keys(twins).length > 0)
      events.push({ event: 'twin', id, data: { id, twins, delta: view.delta } });
    if (before?.state !== now.state) events.push({ event: 'state', id, data: stateEvent });
    return events;
  }
}
