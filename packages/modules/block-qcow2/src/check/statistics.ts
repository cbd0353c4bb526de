// The allocation statistics qemu-img prints after a check, counted over the active L1 table only.

export class ClusterStatistics {
  allocated = 0;
  fragmented = 0;
  compressed = 0;
  /** Where the next data cluster of the L2 table being walked would be if the data were contiguous. */
  private nextContiguous = 0;

  /** A new L2 table: contiguity is judged within one table. */
  startTable(): void {
    this.nextContiguous = 0;
  }

  /** A data cluster (or a zero cluster that keeps its host cluster) at `offset`. */
  data(offset: number, clusterSize: number): void {
    this.allocated++;
    if (this.nextContiguous !== 0 && offset !== this.nextContiguous) this.fragmented++;
    this.nextContiguous = offset + clusterSize;
  }

  /** Compressed clusters count as fragmented: they share sectors with their neighbours. */
  compressedCluster(): void {
    this.allocated++;
    this.compressed++;
    this.fragmented++;
  }
}
