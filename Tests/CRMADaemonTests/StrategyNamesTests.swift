import CRMAContinual
import CRMAWire
import Testing

/// crmactl cannot see `Strategy`; the names it offers are the wire module's copy of them.
@Suite struct StrategyNamesTests {
    @Test func theWireListsEveryStrategyInOrder() {
        #expect(RetryRequest.strategies == Strategy.allCases.map(\.rawValue))
    }
}
