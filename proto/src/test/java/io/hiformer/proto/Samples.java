package io.hiformer.proto;

import java.util.List;

/** Fully populated instances of every contract message, for the tests. */
final class Samples {
  private Samples() {}

  static FeatureValue categorical(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  static FeatureValue bag(String... v) {
    return FeatureValue.newBuilder().setBag(StringList.newBuilder().addAllValues(List.of(v))).build();
  }

  static FeatureValue id(long v) {
    return FeatureValue.newBuilder().setId(v).build();
  }

  static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  /** Two categorical fields, two bag fields (3 ids and 1 id), three dense fields. */
  static ModelInputs inputs() {
    return ModelInputs.newBuilder()
        .addAllCategoricalIds(List.of(17L, 0L))
        .addAllBagIds(List.of(4L, 9L, 9L, 2L))
        .addAllBagOffsets(List.of(0, 3, 4))
        .addAllDense(List.of(0.5f, -1.25f, 0f))
        .build();
  }

  static List<TaskScore> taskScores() {
    return List.of(
        TaskScore.newBuilder().setTask("click").setProbability(0.12f).build(),
        TaskScore.newBuilder().setTask("install").setProbability(0.03f).build());
  }

  static RankRequest rankRequest() {
    return RankRequest.newBuilder()
        .setRequestId("req-1")
        .setUserId("u42")
        .setUnitId("device-7")
        .putContext("hour", dense(13))
        .putContext("surface", categorical("home"))
        .addCandidates(Candidate.newBuilder().setItemId("i1").putFeatures("price", dense(2.99)))
        .addCandidates(Candidate.newBuilder().setItemId("i2").putFeatures("tags", bag("a", "b")))
        .setTopK(1)
        .setModelVersion(7)
        .setArm("treatment")
        .build();
  }

  static RankResponse rankResponse() {
    return RankResponse.newBuilder()
        .setRequestId("req-1")
        .setModelName("ctr")
        .setModelVersion(7)
        .setArm("treatment")
        .addCandidates(
            ScoredCandidate.newBuilder()
                .setItemId("i2")
                .setPosition(0)
                .setScore(0.15f)
                .addAllTaskScores(taskScores()))
        .addCandidates(
            ScoredCandidate.newBuilder()
                .setItemId("i1")
                .setPosition(1)
                .setScore(0.11f)
                .addAllTaskScores(taskScores()))
        .setTiming(
            ServerTiming.newBuilder()
                .setTotalMicros(1800)
                .setFeaturesMicros(400)
                .setQueueMicros(200)
                .setInferenceMicros(1100))
        .build();
  }

  static FeatureUpdate featureUpdate() {
    return FeatureUpdate.newBuilder()
        .setEntityKind(EntityKind.ENTITY_KIND_ITEM)
        .setEntityId("i1")
        .setEventTimeMs(1_760_000_000_000L)
        .putFields("category", id(31))
        .putFields("tags", bag("puzzle", "offline"))
        .addDeletes("promo")
        .build();
  }

  static RankLogEntry rankLogEntry() {
    return RankLogEntry.newBuilder()
        .setRequestId("req-1")
        .setUserId("u42")
        .setUnitId("device-7")
        .putContext("surface", categorical("home"))
        .addCandidates(
            LoggedCandidate.newBuilder()
                .setItemId("i1")
                .setInputs(inputs())
                .addAllTaskScores(taskScores())
                .setScore(0.15f)
                .setPosition(1))
        .setReturnedCount(1)
        .setModelName("ctr")
        .setModelVersion(7)
        .setArm("treatment")
        .setServedTimeMs(1_760_000_000_123L)
        .build();
  }

  static Outcome outcome() {
    return Outcome.newBuilder()
        .setRequestId("req-1")
        .setItemId("i2")
        .setTask("click")
        .setValue(1f)
        .setEventTimeMs(1_760_000_004_000L)
        .build();
  }

  static TrainingExample trainingExample() {
    return TrainingExample.newBuilder()
        .setInputs(inputs())
        .addAllLabels(List.of(1f, 0f))
        .addAllLabelMask(List.of(true, false))
        .setRequestId("req-1")
        .setUserId("u42")
        .setItemId("i2")
        .setModelName("ctr")
        .setModelVersion(7)
        .setArm("treatment")
        .setPosition(3)
        .setServedTimeMs(1_760_000_000_123L)
        .setWeight(2f)
        .build();
  }

  static ModelAnnouncement modelAnnouncement() {
    return ModelAnnouncement.newBuilder()
        .setModelName("ctr")
        .setVersion(7)
        .setUri("file:///models/ctr/7/model.safetensors")
        .setSha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .addAliases("candidate")
        .setCreatedTimeMs(1_759_000_000_000L)
        .putMetrics("auc.click", 0.781)
        .build();
  }
}
