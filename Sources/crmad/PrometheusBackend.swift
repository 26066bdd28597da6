import CRMADaemon
import Metrics
import Prometheus

/// swift-metrics' backend in crmad: one Prometheus registry, bootstrapped once before the daemon records
/// anything; GET /metrics shows its exposition.
enum PrometheusBackend {
    /// Bootstraps the metrics system and returns the registry's exposition for the control server.
    static func bootstrap() -> @Sendable () -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A step takes milliseconds on the tiny test model and seconds to minutes on a real one.
        factory.durationHistogramBuckets[DaemonMetrics.Name.stepSeconds] =
            [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300].map { .milliseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
        return {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
    }
}
