package io.hiformer.proto;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.MethodDescriptor.MethodType;
import io.grpc.ServerServiceDefinition;
import org.junit.jupiter.api.Test;

class RankerGrpcTest {

  @Test
  void serviceDescriptorHasUnaryRank() {
    var service = RankerGrpc.getServiceDescriptor();

    assertThat(service.getName()).isEqualTo("hiformer.v1.Ranker");
    assertThat(service.getMethods())
        .singleElement()
        .satisfies(m -> {
          assertThat(m.getFullMethodName()).isEqualTo("hiformer.v1.Ranker/Rank");
          assertThat(m.getType()).isEqualTo(MethodType.UNARY);
        });
    assertThat(RankerGrpc.getRankMethod().getRequestMarshaller().parse(
            RankerGrpc.getRankMethod().getRequestMarshaller().stream(Samples.rankRequest())))
        .isEqualTo(Samples.rankRequest());
  }

  @Test
  void implBaseBindsRank() {
    ServerServiceDefinition definition = new RankerGrpc.RankerImplBase() {}.bindService();

    assertThat(definition.getMethod("hiformer.v1.Ranker/Rank")).isNotNull();
  }
}
