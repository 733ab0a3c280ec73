/**
 * Where a lowering gets its numbers, in the IR's layouts: OIHW convs ([cout, cin / groups, k, k])
 * with BatchNorm folded into a bias [cout], and [cout, cin] classifiers. The profiler and
 * `latnas build` pass seeded random weights (`RandomWeights`, init.ts); the exporter passes a
 * trained model's (`TfModel.asWeightSource`). Neither lowering owns this contract: ONNX
 * (src/onnx/) consumes it, the TF.js model (src/train/) produces it.
 */

export interface Params {
  weight: Float32Array;
  bias: Float32Array;
}

export interface WeightSource {
  /** Conv weight [cout, cin/groups, k, k] and bias [cout] (BN folded in, where the layer has BN). */
  conv(name: string, cout: number, cinPerGroup: number, k: number): Params;
  /** Fully connected weight [cout, cin] and bias [cout]. */
  fc(name: string, cout: number, cin: number): Params;
}
