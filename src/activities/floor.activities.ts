export function createFloorActivities() {
  return {
    /** Does nothing but return its input: what is measured is the orchestration around it. */
    floorEcho(n: number): Promise<number> {
      return Promise.resolve(n);
    },
  };
}

export type FloorActivities = ReturnType<typeof createFloorActivities>;
