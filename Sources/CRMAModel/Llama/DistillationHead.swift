import CRMANumerics

/// What a distillation teacher gives the training pass for one batch: its final normed hidden states
/// (`[rows × hidden]`; the output head is frozen and shared, so they determine the teacher's logits
/// exactly while taking `hidden / vocab` of the space), and the mixing of the two loss terms.
public struct DistillationTarget {
    public var teacherHidden: FloatBuffer
    /// Weight of the cross-entropy on the data; `1 − alpha` weighs the distillation term.
    public var alpha: Float
    /// Softmax temperature of the distillation term.
    public var temperature: Float

    public init(teacherHidden: FloatBuffer, alpha: Float, temperature: Float) {
        precondition(alpha >= 0 && alpha <= 1, "alpha must be in [0, 1]")
        precondition(temperature > 0, "temperature must be positive")
        self.teacherHidden = teacherHidden
        self.alpha = alpha
        self.temperature = temperature
    }
}

/// The two terms of a distilled loss, each a mean over the positions that carry a target.
public struct DistillationTerms: Sendable, Equatable, Codable {
    /// Cross-entropy of the student on the data (nats).
    public var crossEntropy: Double
    /// `KL(teacher ‖ student)` of the temperature-softened distributions (nats, before the `T²` factor).
    public var kl: Double

    public init(crossEntropy: Double, kl: Double) {
        self.crossEntropy = crossEntropy
        self.kl = kl
    }
}

/// Learning-without-forgetting's objective through the output head, in row chunks like ``LossHead``:
/// `α · CE(student, data) + (1 − α) · T² · KL(softmax(teacher / T) ‖ softmax(student / T))` per position,
/// averaged over positions whose target is not −1. The gradient w.r.t. the student's logits is
/// `α (softmax(z) − onehot) + (1 − α) · T · (softmax(z / T) − softmax(u / T))`, divided by the count.
enum DistillationHead {
    static func loss(
        model: LlamaModel, hidden: UnsafePointer<Float>, teacherHidden: UnsafePointer<Float>, targets: [Int32],
        alpha: Float, temperature: Float, gradient: UnsafeMutablePointer<Float>?, workspace ws: ForwardWorkspace
    ) -> (mean: Double, perRow: [Double], terms: DistillationTerms) {
        let V = model.config.vocabSize, d = model.config.hiddenSize, rows = targets.count
        let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        guard counted > 0 else {
            gradient?.initialize(repeating: 0, count: rows * d)
            return (0, [Double](repeating: 0, count: rows), DistillationTerms(crossEntropy: 0, kl: 0))
        }
        let chunk = Scorer.headChunkRows
        let student = ws.buffer("logits", min(chunk, rows) * V)
        let teacher = ws.buffer("teacherLogits", min(chunk, rows) * V)
        var nll = [Double](repeating: 0, count: rows), kl = [Double](repeating: 0, count: rows)
        let scale = 1 / Float(counted)
        var r0 = 0
        while r0 < rows {
            let m = min(chunk, rows - r0)
            model.logits(hidden: hidden + r0 * d, rows: m, into: student.pointer)
            model.logits(hidden: teacherHidden + r0 * d, rows: m, into: teacher.pointer)
            let capped = model.keepCappedLogits(student.pointer, count: m * V, gradient: gradient != nil, workspace: ws)
            let zp = SendablePointer(student.pointer), up = SendablePointer(teacher.pointer)
            let tg = Array(targets[r0..<(r0 + m)])
            let withGradient = gradient != nil
            nll.withUnsafeMutableBufferPointer { nb in
                kl.withUnsafeMutableBufferPointer { kb in
                    let np = SendablePointer(nb.baseAddress! + r0), kp = SendablePointer(kb.baseAddress! + r0)
                    Parallel.rows(m, minRows: 1) { range in
                        for r in range {
                            let z = zp.p + r * V, u = up.p + r * V
                            guard tg[r] >= 0 else {
                                if withGradient { z.initialize(repeating: 0, count: V) }
                                continue
                            }
                            let row = Self.row(
                                student: z, teacher: u, count: V, target: Int(tg[r]), alpha: alpha,
                                temperature: temperature, gradientScale: withGradient ? scale : nil)
                            np.p[r] = row.nll
                            kp.p[r] = row.kl
                        }
                    }
                }
            }
            if let gradient {
                model.softcapLogitsBackward(student.pointer, capped: capped, count: m * V)
                model.headInputGradient(student.pointer, rows: m, into: gradient + r0 * d)
            }
            r0 += m
        }
        let a = Double(alpha), t2 = Double(temperature * temperature)
        let perRow = zip(nll, kl).map { a * $0 + (1 - a) * t2 * $1 }
        let ce = nll.reduce(0, +) / Double(counted), klMean = kl.reduce(0, +) / Double(counted)
        return (a * ce + (1 - a) * t2 * klMean, perRow, DistillationTerms(crossEntropy: ce, kl: klMean))
    }

    /// One position: returns its cross-entropy and KL; with `gradientScale`, overwrites `student` with the
    /// scaled gradient w.r.t. its logits (`teacher` is used as scratch).
    static func row(
        student z: UnsafeMutablePointer<Float>, teacher u: UnsafeMutablePointer<Float>, count V: Int, target: Int,
        alpha: Float, temperature T: Float, gradientScale: Float?
    ) -> (nll: Double, kl: Double) {
        typealias K = Kernels
        let invT = 1 / T
        let lse = K.logSumExp(z, V)
        let nll = Double(lse - z[target])
        let lseZ = K.logSumExp(z, V, scale: invT), lseU = K.logSumExp(u, V, scale: invT)
        let g = gradientScale ?? 0
        let ce = g * alpha, soft = g * (1 - alpha) * T
        var klAcc = SIMD16<Float>()
        var klTail = 0.0
        var i = 0
        while i + 16 <= V {
            let zv = K.load(z + i)
            let logS = zv * invT - lseZ, logT = K.load(u + i) * invT - lseU
            let pt = FastMath.exp(logT)
            klAcc += pt * (logT - logS)
            if gradientScale != nil {
                K.store(ce * FastMath.exp(zv - lse) + soft * (FastMath.exp(logS) - pt), z + i)
            }
            i += 16
        }
        while i < V {
            let logS = z[i] * invT - lseZ, logT = u[i] * invT - lseU
            let pt = FastMath.exp(logT)
            klTail += Double(pt * (logT - logS))
            if gradientScale != nil { z[i] = ce * FastMath.exp(z[i] - lse) + soft * (FastMath.exp(logS) - pt) }
            i += 1
        }
        if gradientScale != nil { z[target] -= ce }
        return (nll, Double(klAcc.sum()) + klTail)
    }
}
