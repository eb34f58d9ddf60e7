// Package affinity holds the nouns every stage of affinityd shares: posts as
// collected, what analysis found in them, the batches the store commits, the
// window counts it returns and the scoring snapshot the surfaces read.
//
// It imports nothing of ours, so collector, analysis and store can all depend
// on it without depending on each other.
package affinity
