package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.training.evaluation.EvaluationResult.Delta;
import io.hiformer.training.evaluation.EvaluationResult.Verdict;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequirementTest {

  @Test
  void parsesTaskPartOperatorAndSignedNumbers() {
    List<Requirement> r = Requirement.parse(" auc>=+0.001, click:auc.lo >= 0,logloss.hi<-1e-4 ,ndcg@10.p<=0.05");
    assertThat(r).extracting(Requirement::task).containsExactly(null, "click", null, null);
    assertThat(r).extracting(Requirement::metric).containsExactly("auc", "auc", "logloss", "ndcg@10");
    assertThat(r).extracting(Requirement::part).containsExactly(Requirement.Part.DELTA, Requirement.Part.LO,
        Requirement.Part.HI, Requirement.Part.P);
    assertThat(r).extracting(Requirement::op).containsExactly(">=", ">=", "<", "<=");
    assertThat(r).extracting(Requirement::value).containsExactly(0.001, 0.0, -1e-4, 0.05);

    assertThatThrownBy(() -> Requirement.parse("auc=>0")).hasMessageContaining("'auc=>0'");
    assertThatThrownBy(() -> Requirement.parse("auc.mid>=0")).hasMessageContaining("'auc.mid>=0'");
    assertThatThrownBy(() -> Requirement.parse("auc>=x")).hasMessageContaining("'auc>=x'");
    assertThatThrownBy(() -> Requirement.parse("accuracy>=0").getFirst().validate(List.of("auc"), List.of("click")))
        .hasMessageContaining("no metric 'accuracy'");
    assertThatThrownBy(() -> Requirement.parse("buy:auc>=0").getFirst().validate(List.of("auc"), List.of("click")))
        .hasMessageContaining("no task 'buy'");
  }

  @Test
  void checksEveryChallengerOnEveryTaskAndFailsOnUndefined() {
    EvaluationResult.ModelVersion v1 = new EvaluationResult.ModelVersion("m", 1, "v1", "", "hiformer");
    EvaluationResult.ModelVersion v2 = new EvaluationResult.ModelVersion("m", 2, "v2", "", "hiformer");
    EvaluationResult.ModelVersion v3 = new EvaluationResult.ModelVersion("m", 3, "v3", "", "hiformer");
    List<EvaluationResult.TaskTable> tables = List.of(
        new EvaluationResult.TaskTable("click", List.of(), List.of(
            new Delta("v2", "v1", "auc", 0.7, 0.702, 0.002, 0.0005, 0.0035, 0.01, Verdict.BETTER),
            new Delta("v3", "v1", "auc", 0.7, 0.7005, 0.0005, -0.001, 0.002, 0.4, Verdict.NO_SIGNIFICANT_DIFFERENCE))),
        new EvaluationResult.TaskTable("buy", List.of(), List.of(
            new Delta("v2", "v1", "auc", 0.6, 0.61, 0.01, 0.002, 0.02, 0.01, Verdict.BETTER),
            new Delta("v3", "v1", "auc", Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                Verdict.UNDEFINED))));
    EvaluationResult result = new EvaluationResult(List.of(v1, v2, v3), List.of("click", "buy"), List.of(), "", "",
        0, 0, 0, 0, Evaluation.Options.defaults(), new EvaluationResult.Cell(null, null, 0, 0, tables, false),
        List.of());

    Map<String, Boolean> byPair = new java.util.LinkedHashMap<>();
    for (Requirement.Check c : Requirement.parse("auc>=+0.001").getFirst().check(result)) {
      byPair.put(c.version() + " " + c.task(), c.passed());
    }
    assertThat(byPair).containsExactly(Map.entry("v2 click", true), Map.entry("v3 click", false),
        Map.entry("v2 buy", true), Map.entry("v3 buy", false));
    assertThat(Requirement.parse("click:auc.lo>=-0.001").getFirst().check(result))
        .extracting(Requirement.Check::passed).containsExactly(true, true);
    assertThat(Requirement.parse("click:auc.p<0.05").getFirst().check(result))
        .extracting(Requirement.Check::actual).containsExactly(0.01, 0.4);
  }
}
