import {
  type MembershipDevice,
  MsgAttr,
  type MsgTwinMap,
  type ResolvedDevice,
  validatorFor,
} from '../device-models/internal.js';
import type { DeviceRow } from '../twin/store.js';

/** A device as `membership/updated` lists it. */
export interface MemberEntry {
  id: string;
  name: string;
  description?: string;
  /** An added device's twins as they are when it is announced (KubeEdge's Device carries them). */
  twin?: MsgTwinMap;
}

/** Room for one membership message's lists, bytes: under the EventBus's 64 KiB payload limit. */
export const MEMBERSHIP_CHUNK_BYTES = 48 * 1024;

/**
 * A device's `description` as KubeEdge's cloudcore gives it to the edge (DownstreamController createDevice):
 * the Device's label `description`, when it has one.
 */
export function deviceDescription(device: ResolvedDevice): string | undefined {
  return device.device.metadata?.labels?.description || undefined;
}

/** A device as `membership/updated` lists it: KubeEdge's `{id, name, description, twin}`. */
export function memberEntry(device: ResolvedDevice, twin?: MsgTwinMap): MemberEntry {
  const description = deviceDescription(device);
  return {
    id: device.id,
    name: device.name,
    ...(description ? { description } : {}),
    ...(twin && Object.keys(twin).length > 0 ? { twin } : {}),
  };
}

const isMsgAttr = validatorFor(MsgAttr);

/**
 * A device as `membership/get/result` lists it, as KubeEdge's BuildMembershipGetResult does: id, name,
 * description, state, last_online and attributes, each left out when empty (Go's `omitempty`), and no twins.
 * Only attributes in KubeEdge's MsgAttr shape are listed (a KubeEdge decoder would fail on any other).
 */
export function membershipDevice(device: ResolvedDevice, row: DeviceRow | undefined): MembershipDevice {
  const description = row?.description || deviceDescription(device);
  const attributes = Object.entries(row?.attributes ?? {}).filter(([, attr]) => isMsgAttr(attr));
  return {
    id: device.id,
    name: device.name,
    ...(description ? { description } : {}),
    ...(row?.state ? { state: row.state } : {}),
    ...(row?.lastOnline ? { last_online: row.lastOnline } : {}),
    ...(attributes.length > 0
      ? { attributes: Object.fromEntries(attributes) as MembershipDevice['attributes'] }
      : {}),
  };
}

/**
 * `membership/updated` payloads for a change, each small enough for the EventBus (a gateway with a thousand
 * devices would otherwise send one message of ~70 KB at start and have it refused). Added devices first, then
 * removed ones; always at least one message, so an empty change is still announced.
 */
export function membershipUpdates(
  added: readonly MemberEntry[],
  removed: readonly MemberEntry[],
  maxBytes = MEMBERSHIP_CHUNK_BYTES,
): { added_devices: MemberEntry[]; removed_devices: MemberEntry[] }[] {
  const messages: { added_devices: MemberEntry[]; removed_devices: MemberEntry[] }[] = [];
  let current = { added_devices: [] as MemberEntry[], removed_devices: [] as MemberEntry[] };
  let size = 0;
  const put = (list: 'added_devices' | 'removed_devices', entry: MemberEntry) => {
    const bytes = JSON.stringify(entry).length + 1;
    if (size + bytes > maxBytes && size > 0) {
      messages.push(current);
      current = { added_devices: [], removed_devices: [] };
      size = 0;
    }
    current[list].push(entry);
    size += bytes;
  };
  for (const entry of added) put('added_devices', entry);
  for (const entry of removed) put('removed_devices', entry);
  messages.push(current);
  return messages;
}
