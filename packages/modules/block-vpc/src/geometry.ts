/**
 * CHS geometry of a VHD, by the algorithm in the appendix of Microsoft's VHD specification. Virtual
 * PC (and qemu for images whose creator is `qemu`) takes the disk size from the geometry, not
 * from the footer's size field.
 */
export interface Geometry {
  readonly cylinders: number;
  readonly heads: number;
  readonly sectorsPerTrack: number;
}

/** 65535 × 16 × 255 sectors: the largest geometry, which means "use the footer's size". */
export const MAX_GEOMETRY_SECTORS = 65535 * 16 * 255;
/** qemu allows at most 2040 GiB. */
export const MAX_SECTORS = (2040 * 1024 * 1024 * 1024) / 512;

export const sectorsOf = (g: Geometry): number => g.cylinders * g.heads * g.sectorsPerTrack;

export function geometryFor(totalSectors: number): Geometry {
  const sectors = Math.min(totalSectors, MAX_GEOMETRY_SECTORS);
  let sectorsPerTrack: number;
  let heads: number;
  let cylTimesHeads: number;
  if (sectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    heads = Math.max(4, Math.ceil(cylTimesHeads / 1024));
    if (cylTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    }
    if (cylTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylTimesHeads / heads), heads, sectorsPerTrack };
}

/**
 * The smallest geometry holding at least `totalSectors` (qemu-img create rounds up, so a convert
 * never truncates), capped at the largest geometry.
 */
export function geometryCovering(totalSectors: number): Geometry {
  const wanted = Math.min(totalSectors, MAX_GEOMETRY_SECTORS);
  let geometry: Geometry = { cylinders: 0, heads: 0, sectorsPerTrack: 0 };
  // Each step adds one sector to the request; the geometry grows in steps of at most a cylinder
  // of 16 × 255 sectors, so this ends within a few thousand steps.
  for (let extra = 0; wanted > sectorsOf(geometry); extra++) geometry = geometryFor(wanted + extra);
  return geometry;
}
