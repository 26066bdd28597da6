import CRMANumerics
import Testing
@testable import CRMAModel

/// Decoding's attention step (one new row against the cache, its own loop) equals the blocked attention
/// over the whole sequence, on enough keys and heads that it splits the heads between the cores.
@Suite struct DecodeAttentionTests {
    @Test(arguments: [12, 700])
    func oneRowAgainstTheCacheEqualsTheWholeSequence(_ length: Int) {
        let c = LlamaConfig(
            hiddenSize: 512, layers: 1, heads: 8, kvHeads: 2, ffnSize: 64, vocabSize: 16, tiedEmbeddings: true,
            contextLength: 1024)
        var rng = SeededRandom(seed: UInt64(length))
        let qkv = FloatBuffer(count: length * c.qkvSize)
        for i in 0..<qkv.count { qkv[i] = Float(rng.uniform(-1, 1)) }
        let whole = FloatBuffer(count: length * c.qSize)
        Attention.causal(config: c, qkv: qkv.pointer, batch: 1, seqLen: length, cache: nil, layer: 0, into: whole.pointer)
        let cache = KVCache(config: c, capacity: length)
        let prefix = length - 2
        let scratch = FloatBuffer(count: prefix * c.qSize)
        Attention.causal(config: c, qkv: qkv.pointer, batch: 1, seqLen: prefix, cache: cache, layer: 0, into: scratch.pointer)
        cache.length = prefix
        for t in prefix..<length {
            let row = FloatBuffer(count: c.qSize)
            Attention.causal(
                config: c, qkv: qkv.pointer + t * c.qkvSize, batch: 1, seqLen: 1, cache: cache, layer: 0, into: row.pointer)
            cache.length = t + 1
            let worst = (0..<c.qSize).reduce(Float(0)) { max($0, abs(row[$1] - whole[t * c.qSize + $1])) }
            #expect(worst < 1e-5, "position \(t): \(worst)")
        }
    }
}
